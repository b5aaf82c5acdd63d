import { Injectable, Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The package root: two levels up from src/http (specs, tsx) and from dist/http alike. */
export const PACKAGE_ROOT = join(__dirname, '..', '..');
const BUNDLE_DIR = join(PACKAGE_ROOT, 'dist', 'browser');
const BUILD_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'build-browser.mjs');
/** What the build may take on a busy machine before the request gives up (ms). */
const BUILD_TIMEOUT_MS = 60_000;

/** The two files served: the module and its source map. */
export type SdkFile = 'longlink-client.js' | 'longlink-client.js.map';

/**
 * The prebuilt browser SDK (scripts/build-browser.mjs → dist/browser/), read once. `nest start`
 * empties dist/ before it compiles, so in a checkout a missing bundle is built on first use
 * with the same script; an installed package ships it (prepack) and has no scripts/ to run.
 */
@Injectable()
export class DemoSdkBundle {
  private readonly logger = new Logger('DemoSdkBundle');
  private readonly files = new Map<SdkFile, Promise<Buffer | null>>();
  private building: Promise<boolean> | undefined;

  /** The file's bytes, or null when there is no bundle and none can be built here. */
  read(file: SdkFile): Promise<Buffer | null> {
    let cached = this.files.get(file);
    if (cached === undefined) {
      cached = this.load(file);
      this.files.set(file, cached);
      // A failure is not cached: the next request tries again (say, after `npm run build`).
      void cached.then((bytes) => bytes === null && this.files.delete(file));
    }
    return cached;
  }

  private async load(file: SdkFile): Promise<Buffer | null> {
    const path = join(BUNDLE_DIR, file);
    if (!(await exists(path)) && !(await this.build())) return null;
    return readFile(path).catch(() => null);
  }

  private build(): Promise<boolean> {
    this.building ??= (async () => {
      if (!(await exists(BUILD_SCRIPT))) return false;
      try {
        await promisify(execFile)(process.execPath, [BUILD_SCRIPT], {
          cwd: PACKAGE_ROOT,
          timeout: BUILD_TIMEOUT_MS,
        });
        return true;
      } catch (error) {
        this.logger.warn(`cannot build the browser SDK: ${(error as Error).message}`);
        return false;
      } finally {
        this.building = undefined;
      }
    })();
    return this.building;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
