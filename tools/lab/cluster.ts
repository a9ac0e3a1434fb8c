/** The lab implementation (issue 10). Stub until the lab lands: see tools/lab/api.ts for the contract. */
import type { StartLab } from './api.ts';

/** Brings a lab up (see {@link StartLab}). */
export const startLab: StartLab = () => Promise.reject(new Error('the lab is not built yet'));
