/**
 * `file:` URLs of many files in few folders, as `pathToFileURL` gives them, without a URL object
 * per file (it shows at thousands of files): the folder's URL, then the plain name.
 */
import { posix, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** File names that `pathToFileURL` leaves as they are (but `.` and `..`, which it resolves). */
const PLAIN_NAME = /^[\w.-]+$/;
let lastFolder = '';
let lastFolderUrl: string | undefined;

/** The `file:` URL of the absolute path `path`, exactly as `pathToFileURL(path).href`. */
export function fileUrl(path: string): string {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  if (sep !== '/' || slash <= 0 || !PLAIN_NAME.test(name) || name === '.' || name === '..') return pathToFileURL(path).href;
  const folder = path.slice(0, slash);
  if (folder !== lastFolder) {
    // A folder that is not normalized (`//`, `/./`, `/../`) gets no shortcut: pathToFileURL resolves it.
    lastFolderUrl = posix.normalize(folder) === folder && !folder.endsWith('/') ? pathToFileURL(folder).href : undefined;
    lastFolder = folder;
  }
  return lastFolderUrl === undefined ? pathToFileURL(path).href : `${lastFolderUrl}/${name}`;
}
