import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  StreamableFile,
} from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './demo-sdk.bundle.js';
import { DemoPresence, DemoService, MAX_PRESENCE_UIDS, validUid } from './demo.service.js';

const DEMO_DIR = join(PACKAGE_ROOT, 'web', 'demo');

/** The page's own files (web/demo/), and their types; nothing else under it is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'demo.js': 'text/javascript; charset=utf-8',
  'demo.css': 'text/css; charset=utf-8',
};

/** Scripts, styles and sockets of this origin only: the page runs no third-party code. */
const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'";

/**
 * The demo chat page (docs/WEB.md) at `/`, when `http.demoPage` is on: plain HTML, CSS and JS
 * from web/demo/ over the browser SDK, plus the two endpoints it needs, a development token
 * (POST /demo/token) and its contacts' presence (GET /demo/presence). Off, all of it is 404.
 */
@Controller()
export class DemoController {
  private readonly files = new Map<string, Promise<Buffer>>();

  constructor(private readonly demo: DemoService) {}

  @Get()
  @Header('Cache-Control', 'no-cache')
  @Header('Content-Security-Policy', CSP)
  page(): Promise<StreamableFile> {
    return this.asset('index.html');
  }

  /** `{ uid }` → `{ uid, token }`: a login token for anyone, which is why this is dev-only. */
  @Post('demo/token')
  @HttpCode(200)
  async token(@Body() body: unknown): Promise<{ uid: string; token: string }> {
    this.demo.assertEnabled();
    const uid = validUid((body as { uid?: unknown } | null)?.uid);
    if (uid === null) throw new BadRequestException('uid: a non-empty string of at most 128');
    return { uid, token: await this.demo.mintToken(uid) };
  }

  /** `?uids=a,b` → `{ a: { online, ackedSeq }, … }`; the page polls it every few seconds. */
  @Get('demo/presence')
  @Header('Cache-Control', 'no-store')
  presence(@Query('uids') raw: unknown): Promise<Record<string, DemoPresence>> {
    this.demo.assertEnabled();
    const uids = typeof raw === 'string' ? raw.split(',').map(validUid) : [];
    const valid = [...new Set(uids.filter((uid): uid is string => uid !== null))];
    if (valid.length > MAX_PRESENCE_UIDS) {
      throw new BadRequestException(`uids: at most ${MAX_PRESENCE_UIDS}`);
    }
    return this.demo.presence(valid);
  }

  // Declared after demo/presence: Express matches routes in this order.
  @Get('demo/:file')
  @Header('Cache-Control', 'no-cache')
  file(@Param('file') file: string): Promise<StreamableFile> {
    return this.asset(file);
  }

  private async asset(file: string): Promise<StreamableFile> {
    this.demo.assertEnabled();
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (type === undefined) throw new NotFoundException();
    let bytes = this.files.get(file);
    if (bytes === undefined) {
      bytes = readFile(join(DEMO_DIR, file));
      this.files.set(file, bytes);
      bytes.catch(() => this.files.delete(file));
    }
    const content = await bytes.catch(() => {
      throw new NotFoundException(`${file} is missing from web/demo/`);
    });
    return new StreamableFile(content, { type, length: content.length });
  }
}
