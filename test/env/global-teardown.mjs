import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const session = await tsImport('./control-plane-session.ts', import.meta.url);
  await session.stopSession();
}
