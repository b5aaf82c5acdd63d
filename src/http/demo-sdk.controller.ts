import { Controller, Get, Header, NotFoundException, StreamableFile } from '@nestjs/common';
import { DemoSdkBundle, SdkFile } from './demo-sdk.bundle.js';

/**
 * The browser SDK as one ES module (docs/WEB.md): `import { LonglinkClient } from
 * '/longlink-client.js'`. Served whether or not the demo page is on: it is the public client
 * code, the same as the npm package's, and pages of your own may load it from the gateway.
 */
@Controller()
export class DemoSdkController {
  constructor(private readonly bundle: DemoSdkBundle) {}

  @Get('longlink-client.js')
  @Header('Cache-Control', 'no-cache')
  module(): Promise<StreamableFile> {
    return this.serve('longlink-client.js', 'text/javascript; charset=utf-8');
  }

  @Get('longlink-client.js.map')
  @Header('Cache-Control', 'no-cache')
  sourceMap(): Promise<StreamableFile> {
    return this.serve('longlink-client.js.map', 'application/json; charset=utf-8');
  }

  private async serve(file: SdkFile, type: string): Promise<StreamableFile> {
    const bytes = await this.bundle.read(file);
    if (bytes === null) throw new NotFoundException('no browser SDK bundle: run npm run build');
    return new StreamableFile(bytes, { type, length: bytes.length });
  }
}
