/**
 * The fewest of `n` that outvote the rest: etcd's quorum of `n` voters, or a majority of a box's
 * `n` modules (this one included). One rule, used for both.
 */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}
