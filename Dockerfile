# Multi-stage: compile TypeScript with the dev dependencies, ship only dist/ and the
# production dependencies on a small Node 22 image.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
RUN npx tsc -p tsconfig.build.json

FROM node:22-bookworm-slim
# Two malloc arenas instead of 8 per core: lower RSS under TLS load (see the tls-terminator benchmark notes).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    SIDEKICK_CONFIG=/etc/sidekick/sidekick.yaml
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev also drops the bundled `node` package: the image's own Node 22 runs the agent.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force && rm -rf /root/.npm
COPY --from=build /src/dist ./dist
# The plugin kit for third-party plugins (docs/plugin-api.md): the image ships no sources, so the
# package export `sidekick/plugin-api` points at the compiled kit; and plugin packages installed
# into /app/node_modules or placed under /app find `sidekick` there.
RUN node -e "const fs=require('fs');const p=JSON.parse(fs.readFileSync('package.json'));p.exports['./plugin-api']='./dist/src/plugin-api.js';fs.writeFileSync('package.json',JSON.stringify(p,null,2))" \
 && ln -s .. node_modules/sidekick
COPY bin ./bin
COPY examples/plugins ./examples/plugins
# Node's compile cache, made here once and read-only at run time: start to ready ~10% sooner.
# V8 keeps one cache per set of node flags, so this runs with the ENTRYPOINT's flags (the
# benchmarks check that the two agree).
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN ["node", "--max-semi-space-size=1", "--heap-growing-percent=20", "/app/bin/warm-compile-cache.js"]
# A non-root UID that matches no user in the app's image; state lives on a volume,
# so the root filesystem can be read-only.
USER 65532:65532
VOLUME ["/var/lib/sidekick"]
# 9901 admin (probes, metrics); 8443 the usual tls-terminator listen address.
EXPOSE 9901 8443
# Node as PID 1 does not get default signal handlers; the agent installs its own for
# SIGTERM/SIGINT/SIGHUP, so no init shim is needed. `docker run --init` also works.
# A young generation of 1 MB semi-spaces, never grown (V8's own setting for low-memory devices;
# otherwise it grows to 16 MB under allocation pressure): at 4 MB, 174-183 -> 136-138 MB RSS under
# TLS load; 4 -> 1 MB, another 84-87 -> 80-81 MB, with CPU per request within the noise, +1.7-3 %
# instructions per new TLS connection (callgrind) and log-shipper throughput unchanged (locked
# A/Bs, 2026-11-25). The old generation may grow 20% past what a full GC leaves, not by V8's
# adaptive factor (up to 4x): under TLS handshake churn 105-111 -> 86-88 MB RSS, req/s and CPU per
# request unchanged within the noise (two tls-terminator bench runs, 23:16-23:35 on 2026-11-24).
# Under TLS load the old generation still runs ~7 MB above its live set between full GCs: V8 raises
# its limit by at least 8 MB whatever this factor says (MinimumAllocationLimitGrowingStep in V8's
# heap-controller.cc; 10% saved nothing over 20%). Its 2 MB step comes only with V8's memory-saving
# mode, --optimize-for-size: tried on 2026-11-25, ~3 MB less RSS under load but ~12% more CPU per
# new TLS connection (it compacts more), so not used.
# The benchmarks read these flags and the ENV above from this file.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--heap-growing-percent=20", "/app/bin/sidekick.js"]
CMD ["run"]
