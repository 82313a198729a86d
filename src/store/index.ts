// Public surface of the store layer.
export { Store, writeFileAtomic } from './store.js';
export type { JsonPatchOp, ChangeEvent, ChangeListener, PutResult, StoreOptions, Txn } from './store.js';
export { StoreError, formatPath } from './errors.js';
export type { StoreErrorKind, StoreErrorCode } from './errors.js';
export { applyWrite, readPath, parsePointer } from './ops.js';
export type { WriteOp } from './ops.js';
