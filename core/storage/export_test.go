package storage

import "context"

// MigrateTo applies the migrations numbered up to last.
func (db *DB) MigrateTo(ctx context.Context, last int) error { return db.migrateTo(ctx, last) }

// MigrationVersions lists the migration numbers in order.
func MigrationVersions() ([]int, error) {
	files, err := migrationFiles()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(files))
	for i, f := range files {
		out[i] = f.version
	}
	return out, nil
}
