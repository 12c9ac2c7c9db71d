// Stops the shared control plane, also when tests failed (jest runs teardown either way).
export default async function globalTeardown(): Promise<void> {
  await globalThis.__capkPodnetControlPlane?.stop();
  globalThis.__capkPodnetControlPlane = undefined;
}
