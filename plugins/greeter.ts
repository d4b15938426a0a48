/**
 * io.plugd.example.v1.greeter: the smallest useful plugin - a config schema with a default, a
 * logger, and a close.
 */
import { register, z } from 'plugd';

register({
  type: 'io.plugd.example.v1',
  id: 'greeter',
  config: z.object({ greeting: z.string().default('hello') }),
  init: (ctx) => {
    ctx.log.info(`${ctx.config.greeting} from ${ctx.name}`);
    return { greet: (who: string) => `${ctx.config.greeting}, ${who}` };
  },
  close: () => undefined,
});
