import { Module } from '@nestjs/common';
import { DemoSdkBundle } from './demo-sdk.bundle.js';
import { DemoSdkController } from './demo-sdk.controller.js';
import { DemoController } from './demo.controller.js';
import { DemoService } from './demo.service.js';

/**
 * The browser SDK at /longlink-client.js and the demo chat page at / (docs/WEB.md). Sessions
 * and the store come from LonglinkModule, which exports them globally.
 */
@Module({
  controllers: [DemoController, DemoSdkController],
  providers: [DemoService, DemoSdkBundle],
})
export class DemoModule {}
