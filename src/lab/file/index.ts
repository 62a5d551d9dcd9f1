/** Lab files: YAML in docker compose's words → the normalized LabModel. */
export type { DependencyCondition, HealthcheckModel, LabModel, NetworkModel, ServiceModel } from './model.js';
export { LabFileError, formatPath, formatProblem, loadLabFile, parseLabText, type LabFileProblem, type PathSegment } from './load.js';
export { parseDuration, splitShellWords } from './normalize.js';
export { labFileJsonSchema, labFileJsonSchemaText, labFileSchema, type LabFile } from './schema.js';
