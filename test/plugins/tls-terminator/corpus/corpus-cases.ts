// The whole corpus, in the order it runs.
import type { Case } from './corpus-case.ts';
import { crashCases } from './cases-crash.ts';
import { framingCases } from './cases-framing.ts';
import { h2Cases } from './cases-h2.ts';
import { hostCases } from './cases-host.ts';
import { limitsCases } from './cases-limits.ts';
import { responseCases } from './cases-response.ts';
import { retryCases } from './cases-retry.ts';

export const corpus: Case[] = [...crashCases, ...framingCases, ...h2Cases, ...retryCases, ...responseCases, ...hostCases, ...limitsCases];
