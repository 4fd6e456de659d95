/**
 * The environment's Firestore database: a named database per environment, so a
 * conversation's records can only be written where its audio is.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { FIRESTORE_INDEXES } from "../shared/firestore-indexes";
import { logicalName } from "./names";

export interface DatabaseSettings {
  readonly location: string;
  /** Protected databases refuse deletion and keep point-in-time recovery on. */
  readonly protect: boolean;
}

export function environmentDatabase(
  resources: EnvironmentResources,
  settings: DatabaseSettings,
  opts: pulumi.CustomResourceOptions,
): gcp.firestore.Database {
  return new gcp.firestore.Database(
    logicalName(resources, "database"),
    {
      project: resources.projectId,
      name: resources.databaseId,
      locationId: settings.location,
      type: "FIRESTORE_NATIVE",
      deleteProtectionState: settings.protect ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED",
      // The provider's default, ABANDON, would leave the database behind on `pulumi destroy`.
      deletionPolicy: settings.protect ? "ABANDON" : "DELETE",
      pointInTimeRecoveryEnablement: settings.protect
        ? "POINT_IN_TIME_RECOVERY_ENABLED"
        : "POINT_IN_TIME_RECOVERY_DISABLED",
    },
    { ...opts, protect: settings.protect },
  );
}

/**
 * The composite indexes the code's queries need, from their one declaration
 * (shared/firestore-indexes.ts; the query builder refuses a query none of them serves).
 * Firestore builds an index in minutes; until then its query answers FAILED_PRECONDITION.
 */
export function firestoreIndexes(
  resources: EnvironmentResources,
  database: gcp.firestore.Database,
  opts: pulumi.CustomResourceOptions,
): gcp.firestore.Index[] {
  return FIRESTORE_INDEXES.map(
    (index) =>
      new gcp.firestore.Index(
        logicalName(resources, "index", index.collection, ...index.fields.map((f) => f.field)),
        {
          project: resources.projectId,
          database: database.name,
          collection: index.collection,
          queryScope: "COLLECTION",
          fields: index.fields.map(({ field, order }) => ({ fieldPath: field, order })),
        },
        { ...opts, dependsOn: [database] },
      ),
  );
}

/**
 * The IAM condition that confines a project-level Firestore role to this database.
 *
 * Firestore has no database-level IAM policy: its roles are granted on the project. The
 * documented way to scope them to one named database is a condition on the database's
 * resource name ("Configure access to a database with IAM conditions" in the Firestore
 * docs). Built from the created database, so it names exactly what was created.
 */
export function databaseOnlyCondition(
  database: gcp.firestore.Database,
): pulumi.Output<{ title: string; expression: string }> {
  return pulumi.all([database.project, database.name]).apply(([project, name]) => ({
    title: `${name} database only`,
    expression: databaseOnlyExpression(project, name),
  }));
}

/** `resource.name == "projects/P/databases/D"`: the only form a Firestore grant may take. */
export function databaseOnlyExpression(project: string, databaseId: string): string {
  return `resource.name == "projects/${project}/databases/${databaseId}"`;
}
