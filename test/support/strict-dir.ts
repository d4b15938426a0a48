/** Plugin directories with strict modes, whatever the umask: for tests of the permission checks. */
import { chmod, mkdir, mkdtemp, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A fresh dir (made 0755) holding `files`, each 0644, its folders 0755; its path goes on `temps` for cleanup. */
export async function strictDir(files: Readonly<Record<string, string>>, temps: string[], prefix = 'plugd-strict-'): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  temps.push(dir);
  await chmod(dir, 0o755);
  for (const [file, content] of Object.entries(files)) {
    const path = join(dir, file);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, content);
    await chmod(path, 0o644);
  }
  for (const file of Object.keys(files)) {
    for (let d = dirname(join(dir, file)); d !== dir; d = dirname(d)) await chmod(d, 0o755);
  }
  return dir;
}
