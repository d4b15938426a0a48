// The baseline's one resolve hook (module.register runs it off-thread): 'plugd' -> stub.mjs.
let stub;

export function initialize(data) {
  stub = data.stub;
}

export async function resolve(specifier, context, next) {
  if (specifier === 'plugd') return { url: stub, shortCircuit: true };
  return next(specifier, context);
}
