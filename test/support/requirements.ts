/**
 * Whether a suite that needs something from the machine (chromium, nginx, Docker) can run here.
 * Without it the suite is skipped with a notice saying what is missing — except under CI=true,
 * where a missing requirement fails the run instead: a suite that silently stops running would
 * look green.
 */
export function canRun(suite: string, missing: readonly (string | false | null | undefined)[]): boolean {
  const reasons = missing.filter((reason): reason is string => typeof reason === 'string' && reason !== '');
  if (reasons.length === 0) return true;
  const notice = `${suite} skipped: ${reasons.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(`[herald tests] CI=true and ${notice}`);
  console.warn(`[herald tests] ${notice}`);
  return false;
}
