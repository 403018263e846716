using System.Globalization;

namespace BottleneckPipeline.Index;

/// <summary>Records a stage run in the index's runs table: started, then ok or failed. A process
/// killed mid-run leaves 'running', which is how a later look tells a crash from a finish.</summary>
internal sealed class RunLog
{
    private readonly IndexDb _db;
    public long RunId { get; }

    private RunLog(IndexDb db, long runId)
    {
        _db = db;
        RunId = runId;
    }

    public static RunLog Start(IndexDb db, string stage, string configHash)
    {
        using var cmd = db.Command("INSERT INTO runs(stage, started_at, config_hash) VALUES ($s, $t, $h) RETURNING run_id;");
        cmd.Parameters.AddWithValue("$s", stage);
        cmd.Parameters.AddWithValue("$t", Now());
        cmd.Parameters.AddWithValue("$h", configHash);
        return new RunLog(db, Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture));
    }

    public void Finish(bool ok, string? detail = null)
    {
        using var cmd = _db.Command("UPDATE runs SET ended_at = $t, outcome = $o, detail = $d WHERE run_id = $id;");
        cmd.Parameters.AddWithValue("$t", Now());
        cmd.Parameters.AddWithValue("$o", ok ? "ok" : "failed");
        cmd.Parameters.AddWithValue("$d", (object?)detail ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$id", RunId);
        cmd.ExecuteNonQuery();
    }

    private static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
}
