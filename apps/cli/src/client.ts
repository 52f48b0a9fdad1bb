// The CLI talks to Herald only through @herald/client. It imports the client's sources rather
// than the package, so that its build compiles them in (dist/packages/client): the CLI's tarball
// then installs with nothing else of this repository.
export * from '../../../packages/client/src/index.ts';
