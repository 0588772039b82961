// The throwaway PostgreSQL server lives in testing/ so the benchmarks (which never import test/) use it too.
export {
  findPostgresBin,
  type PostgresHandle,
  postgresAvailable,
  startPostgres,
} from '../../testing/postgres.ts';
