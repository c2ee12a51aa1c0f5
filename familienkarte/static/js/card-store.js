// The card on this phone, kept in IndexedDB: database "familienkarte", object store "device", one record.
//
// The record is { keyPair, credential, credentialId, exp, serverOffset }. keyPair is a WebCrypto CryptoKeyPair
// whose private key is non-extractable: IndexedDB stores the key object itself (structured clone), so the
// private key's bytes are never readable by any script, and it never leaves the browser.

export const DB_NAME = "familienkarte";
export const DB_VERSION = 1;
export const STORE = "device";
export const RECORD_KEY = "current";

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Open (and on first use create) the database. factory is window.indexedDB, or a stand-in in tests. */
export function openCardDatabase(factory = globalThis.indexedDB) {
  if (!factory) {
    return Promise.reject(new Error("IndexedDB is not available"));
  }
  const request = factory.open(DB_NAME, DB_VERSION);
  request.onupgradeneeded = () => {
    const db = request.result;
    if (!db.objectStoreNames.contains(STORE)) {
      db.createObjectStore(STORE);
    }
  };
  return new Promise((resolve, reject) => {
    request.onsuccess = () => {
      const db = request.result;
      // Another tab upgrading the database: let it, and reopen on the next use.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("IndexedDB is blocked by another tab"));
  });
}

async function withStore(db, mode, action) {
  const transaction = db.transaction(STORE, mode);
  const done = new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error || new Error("IndexedDB transaction aborted"));
  });
  const result = await promised(action(transaction.objectStore(STORE)));
  await done;
  return result;
}

/** The stored record, or null when this phone has not been activated. */
export async function loadDevice(db) {
  const record = await withStore(db, "readonly", (store) => store.get(RECORD_KEY));
  return record ?? null;
}

/** Replace the stored record. */
export async function saveDevice(db, record) {
  await withStore(db, "readwrite", (store) => store.put(record, RECORD_KEY));
  return record;
}

/** Forget the card on this phone (key and credential). */
export async function clearDevice(db) {
  await withStore(db, "readwrite", (store) => store.delete(RECORD_KEY));
}
