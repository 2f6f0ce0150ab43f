/**
 * Topic metadata of the embedded log on disk:
 *
 * ```
 * <dir>/topics/<topic>/topic.json     the TopicConfig, as JSON
 * <dir>/topics/<topic>/<partition>/   that partition's segments
 * ```
 *
 * Creation is atomic: the whole tree is built as `topics/.<topic>.creating`, then renamed. Deletion
 * renames the tree to `topics/.<topic>.deleted-<time>` and then removes it. Open removes both kinds
 * of leftovers of a crash.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TOPIC_DEFAULTS, type TopicConfig } from '../types.js';
import { fsyncDir, readJsonIfExists, writeFileAtomic } from './fs-util.js';

export class TopicStore {
  readonly root: string;

  constructor(
    dir: string,
    private readonly durable: boolean,
    writable: boolean,
  ) {
    this.root = join(dir, 'topics');
    if (writable) mkdirSync(this.root, { recursive: true });
  }

  /** Removes the leftovers of interrupted creations and deletions; returns their paths. */
  removeLeftovers(): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.root)) {
      if (name.startsWith('.')) {
        rmSync(join(this.root, name), { recursive: true, force: true });
        removed.push(join(this.root, name));
      }
    }
    return removed;
  }

  /** Names of the topics on disk, sorted. */
  list(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((n) => !n.startsWith('.') && existsSync(join(this.root, n, 'topic.json')))
      .sort();
  }

  /** The topic's config; settings added since it was written (`maxRecordBytes`) get their defaults. */
  readConfig(topic: string): TopicConfig | undefined {
    const c = readJsonIfExists<TopicConfig>(join(this.root, topic, 'topic.json'));
    return c === undefined ? undefined : { ...TOPIC_DEFAULTS, ...c };
  }

  topicDir(topic: string): string {
    return join(this.root, topic);
  }

  partitionDir(topic: string, partition: number): string {
    return join(this.root, topic, String(partition));
  }

  /** Creates the topic's directories and metadata atomically. */
  create(topic: string, config: TopicConfig): void {
    const tmp = join(this.root, `.${topic}.creating`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (let p = 0; p < config.partitions; p++) mkdirSync(join(tmp, String(p)));
    writeFileAtomic(join(tmp, 'topic.json'), `${JSON.stringify(config, null, 2)}\n`, this.durable);
    renameSync(tmp, this.topicDir(topic));
    if (this.durable) fsyncDir(this.root);
  }

  /** Removes the topic's tree (atomically renamed away first). */
  remove(topic: string): void {
    const aside = join(this.root, `.${topic}.deleted-${Date.now()}`);
    renameSync(this.topicDir(topic), aside);
    if (this.durable) fsyncDir(this.root);
    rmSync(aside, { recursive: true, force: true });
  }
}
