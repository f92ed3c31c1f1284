// The shared config: ../../vitest.shared.ts
export { default } from '../../vitest.shared.ts';
