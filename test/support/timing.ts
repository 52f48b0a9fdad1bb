/**
 * The fastest of `rounds` runs of `run`, in ms: what a time bound on CPU-bound code should look
 * at. A loaded machine (CI running other tests beside it) stalls a run now and then; a stall
 * lands in one round, not in all of them, while code that is too slow (a quadratic scan, a
 * backtracking pattern) is slow in every round.
 */
export function fastestMs(run: () => unknown, rounds = 5): number {
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}
