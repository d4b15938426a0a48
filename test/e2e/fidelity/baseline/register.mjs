// Preloaded into the baseline process only (`node --import ./register.mjs driver.mjs ...`): maps the
// bare specifier 'plugd' to the recording stub. Everything else resolves as plain Node resolves it.
import { register } from 'node:module';

register(new URL('./hooks.mjs', import.meta.url), { data: { stub: new URL('./stub.mjs', import.meta.url).href } });
