/** Placeholder until the netem parser lands (replaced by the real one). */
import type { ImpairmentOptions } from './impair.js';

export function parseNetemSpec(text: string): ImpairmentOptions {
  if (text.trim() === '') throw new Error(`netem spec "${text}" is empty`);
  return {};
}
