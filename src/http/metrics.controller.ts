import { Controller, Get, Header, Res } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';

/** The minimal response surface used here (Express and Fastify both have it). */
interface HeaderResponse {
  header(name: string, value: string): unknown;
}

/**
 * GET /metrics in the Prometheus text format, open without a token like
 * /healthz: bind http.host to an internal interface. Counters are read when
 * scraped, so a scrape costs the transport nothing between scrapes.
 */
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Res({ passthrough: true }) res: HeaderResponse): Promise<string> {
    const { contentType, text } = await this.metrics.scrape();
    res.header('Content-Type', contentType);
    return text;
  }
}
