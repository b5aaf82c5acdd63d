/**
 * `longlink/testing`: a gateway for the application's tests, on an ephemeral
 * port, built on @nestjs/testing (its peer dependency). See docs/EXTENDING.md.
 */
export { TestingGateway, createTestingGateway } from './testing-gateway.js';
export type { TestingGatewayOptions } from './testing-gateway.js';
