// Proves the OVN test stack is real: NB writes become SB logical flows through ovn-northd, and
// ovn-trace follows a packet through them.
import { OvnCentral } from '../env/ovn-central.js';

describe('OVN central (real ovsdb-server + ovn-northd)', () => {
  let ovn: OvnCentral;
  beforeAll(async () => {
    ovn = await OvnCentral.start();
  });
  afterAll(async () => {
    await ovn?.stop();
  });

  it('turns a logical switch and port in NB into SB logical flows', async () => {
    await ovn.nbctl('ls-add', 'sw0');
    await ovn.nbctl('lsp-add', 'sw0', 'p1', '--', 'lsp-set-addresses', 'p1', '02:00:00:00:00:01 10.0.0.11');
    await ovn.nbctl('lsp-add', 'sw0', 'p2', '--', 'lsp-set-addresses', 'p2', '02:00:00:00:00:02 10.0.0.12');
    await ovn.syncSb();

    const datapaths = await ovn.sbctl('--bare', '--columns=external_ids', 'list', 'Datapath_Binding');
    expect(datapaths).toContain('name=sw0');
    const flows = await ovn.sbctl('lflow-list', 'sw0');
    // The L2 lookup stage forwards the port's MAC to it.
    expect(flows).toMatch(/ls_in_l2_lkup.*eth\.dst == 02:00:00:00:00:02.*outport = "p2"/);
  });

  it('traces a packet from one port to the other, and not to an unknown MAC', async () => {
    const microflow = (dst: string) =>
      `inport == "p1" && eth.src == 02:00:00:00:00:01 && eth.dst == ${dst} && ip4.src == 10.0.0.11 && ip4.dst == 10.0.0.12 && ip.ttl == 64`;
    const delivered = await ovn.trace('sw0', microflow('02:00:00:00:00:02'), '--minimal');
    expect(delivered).toMatch(/output\("p2"\)|output\(\);/);
    expect(delivered).not.toContain('drop');

    const unknown = await ovn.trace('sw0', microflow('02:00:00:00:00:99'), '--minimal');
    expect(unknown).not.toContain('"p2"');
  });

  it('names the failure when NB rejects a command', async () => {
    await expect(ovn.nbctl('lsp-add', 'no-such-switch', 'p9')).rejects.toThrow(/no-such-switch/);
  });
});
