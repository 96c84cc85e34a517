import type { MigratedModuleFactory } from '../../../migrated/module.js';
import { answerLabelled } from '../nginx/label-server.js';

/**
 * The drill's migrated module (`drill-echo`, given to createGateway through `modules`, never in the
 * registry): answers like the drill's legacy origin but as side "migrated", naming the instance, so a
 * client can tell from the body which side (and which gateway process) served it.
 * `?sse=N&gapMs=M` streams N events then `event: done`.
 */
export const DRILL_MODULE = 'drill-echo';

export function drillEchoFactory(instanceId: string): MigratedModuleFactory {
  return () => ({
    name: DRILL_MODULE,
    handle: (req, res) => answerLabelled(req, res, 'migrated', { instance: instanceId }),
  });
}
