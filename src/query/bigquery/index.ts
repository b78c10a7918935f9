/** BigQuery table optimizer and cost guard (part of dbkit/query). */
export {};
