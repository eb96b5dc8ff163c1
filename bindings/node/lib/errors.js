'use strict';
// Errors as frodoio throws and rejects with: an Error whose .code is a frodo::Errc name
// ('invalid_argument', 'unavailable', 'deadline_exceeded', 'unauthenticated',
// 'permission_denied', 'lease_lost', 'failed_precondition', 'internal'), the same codes the addon sets.

function frodoError(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

function invalidArgument(message) {
  return frodoError('invalid_argument', message);
}

// How a value is named in an error message: short, and never the whole of a huge string.
function describe(value) {
  if (typeof value === 'string') {
    const shown = value.length > 80 ? value.slice(0, 80) + '...' : value;
    return JSON.stringify(shown);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return `${typeof value} ${String(value)}`;
}

module.exports = { frodoError, invalidArgument, describe };
