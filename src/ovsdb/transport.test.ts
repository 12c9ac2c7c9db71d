import { parseRemote, parseRemotes, RemoteError } from './transport.js';

describe('OVSDB remotes', () => {
  it('parses the forms OVN tools take', () => {
    expect(parseRemote('unix:/var/run/ovn/ovnnb_db.sock')).toEqual({
      kind: 'unix',
      path: '/var/run/ovn/ovnnb_db.sock',
      text: 'unix:/var/run/ovn/ovnnb_db.sock',
    });
    expect(parseRemote('tcp:10.0.0.1:6641')).toMatchObject({ kind: 'tcp', host: '10.0.0.1', port: 6641 });
    expect(parseRemote('ssl:[fd00::1]:6641')).toMatchObject({ kind: 'ssl', host: 'fd00::1', port: 6641 });
  });

  it('splits a comma-separated cluster list', () => {
    expect(parseRemotes('tcp:a:1, tcp:b:2,tcp:c:3').map((r) => r.text)).toEqual([
      'tcp:a:1',
      'tcp:b:2',
      'tcp:c:3',
    ]);
    expect(parseRemotes(['unix:/x', 'tcp:b:2']).map((r) => r.kind)).toEqual(['unix', 'tcp']);
  });

  it.each(['', 'tcp:host', 'tcp:host:0', 'tcp:host:99999', 'http://x', 'unix:', 'ptcp:6641'])(
    'refuses "%s"',
    (r) => {
      expect(() => parseRemotes(r)).toThrow(RemoteError);
    },
  );
});
