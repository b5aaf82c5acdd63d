import { Registry } from 'prom-client';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { scrapedCounter } from './metrics-scraped.counter.js';

/** What the rate rules (limits.rules, @RateLimit) refused and kicked, by rule name. */
export function registerRateRuleMetrics(registry: Registry, rules: RateRulesHook): void {
  scrapedCounter({
    registry,
    name: 'longlink_rate_rule_refused_total',
    help: 'Frames refused with ERROR rate-limited by a rate rule (limits.rules, @RateLimit), by rule.',
    label: 'rule',
    read: () => rules.counts('refusals'),
  });
  scrapedCounter({
    registry,
    name: 'longlink_rate_rule_kicks_total',
    help: 'Connections kicked for being far over a rate rule, by rule.',
    label: 'rule',
    read: () => rules.counts('kicks'),
  });
}
