// Link plugd's public module graph before a test imports plugins in parallel: Jest's ESM loader
// fails ("request for 'zod' is not in cache") when parallel imports link the same new graph.
import '../../src/index.js';
