// Entry point of the rkt bundle. Commands are added in src/cli/rkt/.
console.log('rkt (skeleton)');
