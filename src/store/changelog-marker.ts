/**
 * The changelog marker a changelogged store keeps in its engine's metadata, written in the same
 * engine transaction as the data it describes (see `EngineStore`): `{ offset: N, clean: true }`
 * means "the engine holds exactly the state after changelog offset N" (N = -1: before the first
 * record); `clean: false`, that it holds writes after N that no changelog ack covers yet.
 */

/** Where the engine stands relative to the changelog. */
export interface ChangelogMarker {
  /** The last changelog offset whose state the engine holds (-1: none). */
  readonly offset: number;
  /** False when the engine took writes after `offset` that no changelog ack covers. */
  readonly clean: boolean;
}

export function encodeMarker(marker: ChangelogMarker): Uint8Array {
  return Buffer.from(JSON.stringify({ offset: marker.offset, clean: marker.clean }));
}

export function decodeMarker(meta: Uint8Array | undefined): ChangelogMarker | undefined {
  if (meta === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(meta).toString('utf8')) as ChangelogMarker;
    if (typeof parsed.offset === 'number' && typeof parsed.clean === 'boolean') return parsed;
  } catch {
    // an unreadable marker counts as none: the runtime rebuilds the store
  }
  return undefined;
}
