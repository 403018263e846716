using System.Globalization;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Index;

/// <summary>
/// The facts Ingest commits to the index's meta table in the same transaction as the examples, so
/// they always describe the index they sit in (reports/ingest.json is written after, and a crash
/// between the two leaves the report behind). Later stages read Ingest's results from here.
/// </summary>
/// <param name="IndexHash">SHA-256 over the examples (content id, class, split, conflict): later stages' upstream hash.</param>
public sealed record IngestMeta(string DatasetRoot, string IndexHash, DateTime IngestedAt)
{
    private const string DatasetRootKey = "dataset_root";
    private const string IndexHashKey = "index_hash";
    private const string IngestedAtKey = "last_ingest_at";

    /// <summary>What the last committed ingest recorded, or null when no ingest has committed to this index.</summary>
    public static IngestMeta? Read(IndexDb db, SqliteTransaction? tx = null)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var cmd = db.Command("SELECT key, value FROM meta WHERE key IN ($r, $h, $t);", tx))
        {
            cmd.Parameters.AddWithValue("$r", DatasetRootKey);
            cmd.Parameters.AddWithValue("$h", IndexHashKey);
            cmd.Parameters.AddWithValue("$t", IngestedAtKey);
            using var r = cmd.ExecuteReader();
            while (r.Read()) values[r.GetString(0)] = r.GetString(1);
        }
        if (!values.TryGetValue(IndexHashKey, out var hash) || !values.TryGetValue(DatasetRootKey, out var root)) return null;
        var at = values.TryGetValue(IngestedAtKey, out var text) && DateTime.TryParse(text, CultureInfo.InvariantCulture,
            DateTimeStyles.RoundtripKind, out var t) ? t : DateTime.MinValue;
        return new IngestMeta(root, hash, at);
    }

    /// <summary>Records these facts inside Ingest's transaction, with the rows they describe.</summary>
    public void Write(IndexDb db, SqliteTransaction tx)
    {
        Set(db, tx, DatasetRootKey, DatasetRoot);
        Set(db, tx, IngestedAtKey, IngestedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        Set(db, tx, IndexHashKey, IndexHash);
    }

    private static void Set(IndexDb db, SqliteTransaction tx, string key, string value)
    {
        using var cmd = db.Command("INSERT INTO meta(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value;", tx);
        cmd.Parameters.AddWithValue("$k", key);
        cmd.Parameters.AddWithValue("$v", value);
        cmd.ExecuteNonQuery();
    }
}
