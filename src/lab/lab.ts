/**
 * A lab: the set of containers one program (the CLI, a test, a topology)
 * owns, created together and closed together.
 *
 * Hand-written: a few lines of ownership over ./netns.ts; the recording and
 * crash cleanup live in ./registry.ts, shared by every lab in the process.
 */
import { createContainer, type Container, type ContainerOptions } from './netns.js';

export class Lab {
  private readonly owned = new Set<Container>();
  private closing: Promise<void> | undefined;

  /** The lab's containers that have not been destroyed. */
  get containers(): Container[] {
    return [...this.owned].filter((c) => !c.destroyed);
  }

  /** Creates a container (see `createContainer`) owned by this lab. */
  async container(opts: ContainerOptions): Promise<Container> {
    if (this.closing !== undefined) throw new Error('lab is closed');
    const c = await createContainer(opts);
    this.owned.add(c);
    return c;
  }

  /**
   * Destroys every container (processes, namespace, moved interface). Every
   * container is tried even if one fails; the failures are thrown together.
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const results = await Promise.allSettled([...this.owned].map((c) => c.destroy()));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      if (errors.length > 0) throw new Error(`closing the lab failed:\n${errors.join('\n')}`);
    })();
    return this.closing;
  }
}
