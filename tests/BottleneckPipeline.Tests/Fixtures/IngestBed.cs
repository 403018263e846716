using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>A dataset folder and a real SQLite index in a temp folder, and ingest runs over them.</summary>
internal sealed class IngestBed : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Root => Dir["data"];
    public string IndexPath => Dir["index.sqlite"];

    public IngestBed() => Directory.CreateDirectory(Root);

    public string File(string rel) => Path.Combine(Root, rel);

    public IngestResult Run(Action<DatasetConfig>? configure = null, string? root = null, string? indexPath = null)
    {
        var dataset = new DatasetConfig { Root = root ?? Root };
        configure?.Invoke(dataset);
        using var db = IndexDb.Open(indexPath ?? IndexPath);
        return Ingestor.Run(dataset, db);
    }

    /// <summary>Rows of a query on the index, each as its columns joined with '|'.</summary>
    public List<string> Query(string sql, string? indexPath = null)
    {
        using var conn = new SqliteConnection($"Data Source={indexPath ?? IndexPath};Pooling=False");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new List<string>();
        while (r.Read())
            rows.Add(string.Join("|", Enumerable.Range(0, r.FieldCount)
                .Select(i => r.IsDBNull(i) ? "null" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }

    public void Dispose() => Dir.Dispose();
}
