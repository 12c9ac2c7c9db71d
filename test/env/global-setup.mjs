// Jest loads global setup outside its module mapper, so the TypeScript session is imported with tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const session = await tsImport('./control-plane-session.ts', import.meta.url);
  await session.startSession();
}
