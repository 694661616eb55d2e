// Scenario 4, sync (Key Vault → Secrets): blocked. It needs a Key Vault to
// poll, and the emulator the design names cannot be fetched on these
// machines; a faked vault would measure the fake. Recorded as blocked so
// that the gap stays visible in results.json and the README.
export interface Blocked {
  status: 'blocked';
  reason: string;
}

export function sync(): Blocked {
  return {
    status: 'blocked',
    reason:
      'needs a Key Vault: the emulator the design names (Lowkey Vault, com.github.nagyesta.lowkey-vault:lowkey-vault-app) cannot be fetched ' +
      'on these machines (Maven Central answers 404 for the app jar; it is published only to GitHub Packages, which they cannot reach). ' +
      'Not faked: a fake vault would measure the fake, not Key Vault reads, throttling or the one-read-per-object claim.',
  };
}
