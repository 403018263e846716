using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Head;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// A small real pipeline for the fault tests: flowers copied into a temp folder, a pipeline.yaml
/// beside them, and the built stage executables run against it. Reads back what the stages wrote
/// (index rows, cached vectors, head weights, test accuracy) so runs can be compared.
/// </summary>
public sealed class FaultRig
{
    public static readonly string[] Stages = ["Ingest", "Extract", "TrainHead", "Evaluate"];

    public string Dir { get; }
    public string Dataset { get; }
    public string ConfigPath { get; }
    public string Workspace { get; }
    public string CacheDir { get; }

    /// <param name="dir">Folder for this rig's config and workspace.</param>
    /// <param name="dataset">Dataset folder (shared by rigs that compare runs).</param>
    /// <param name="cacheDir">cache.dir; default &lt;dir&gt;/cache.</param>
    /// <param name="extraYaml">More top-level config sections.</param>
    /// <param name="workspace">The workspace; default &lt;dir&gt;/ws.</param>
    public FaultRig(string dir, string dataset, string? cacheDir = null, string extraYaml = "", string? workspace = null)
    {
        Dir = dir;
        Dataset = dataset;
        Workspace = workspace ?? Path.Combine(dir, "ws");
        CacheDir = cacheDir ?? Path.Combine(dir, "cache");
        ConfigPath = Path.Combine(dir, "pipeline.yaml");
        Directory.CreateDirectory(dir);
        WriteConfig(extraYaml);
    }

    /// <summary>Small but complete: 20% validation and test so every split has images of most classes;
    /// few training steps so TrainHead takes about a second.</summary>
    public void WriteConfig(string extraYaml = "") => File.WriteAllText(ConfigPath, $"""
        dataset:
          root: {Dataset}
          validation_percent: 20
          test_percent: 20
        workspace: {Workspace}
        cache:
          dir: {CacheDir}
        train_head:
          steps: 300
          eval_interval: 50
        {extraYaml}
        """);

    public StageProcess.Result Run(string stage) => StageProcess.Run(stage, "--config", ConfigPath);

    public StageProcess.Result RunAndKill(string stage, TimeSpan after) => StageProcess.RunAndKill(stage, after, "--config", ConfigPath);

    /// <summary>Runs a stage and fails the test with its output unless it exits 0.</summary>
    public StageProcess.Result RunOk(string stage)
    {
        var r = Run(stage);
        Assert.True(r.ExitCode == 0, $"{stage} exited {r.ExitCode}:\n{r.Output}");
        return r;
    }

    public void RunAll()
    {
        foreach (var s in Stages) RunOk(s);
    }

    public string IndexPath => Path.Combine(Workspace, "index.sqlite");
    public string ReportsDir => Path.Combine(Workspace, "reports");
    public string HeadPath => Path.Combine(Workspace, "head.msgpack");

    public JsonNode ExtractReport => JsonNode.Parse(File.ReadAllText(Path.Combine(ReportsDir, "extract.json")))!;

    public string Fingerprint => ExtractReport["fingerprint"]!.GetValue<string>();

    /// <summary>Every example as 'content_id class split rel_path', sorted.</summary>
    public List<string> Examples() => Query("SELECT content_id || ' ' || class || ' ' || split || ' ' || rel_path FROM examples ORDER BY content_id, class;");

    /// <summary>Quarantine rows as 'rel_path: reason'.</summary>
    public List<string> Quarantine() => Query("SELECT rel_path || ': ' || reason FROM quarantine ORDER BY rel_path;");

    /// <summary>Run rows as 'stage outcome'.</summary>
    public List<string> Runs() => Query("SELECT stage || ' ' || outcome FROM runs ORDER BY run_id;");

    public List<string> Query(string sql)
    {
        using var conn = new SqliteConnection(
            new SqliteConnectionStringBuilder { DataSource = IndexPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new List<string>();
        while (r.Read()) rows.Add(r.GetString(0));
        return rows;
    }

    public List<string> ContentIds() => Query("SELECT DISTINCT content_id FROM examples ORDER BY content_id;");

    /// <summary>The cached vector of every content id in the index (null where there is none).</summary>
    public Dictionary<string, float[]?> Vectors(string? fingerprint = null)
    {
        var cache = BottleneckCache.Open(CacheDir, fingerprint ?? Fingerprint);
        return ContentIds().ToDictionary(id => id, id => cache.Get(id));
    }

    public HeadArtifact Head() => HeadArtifact.Load(HeadPath);

    internal EvaluationReport Evaluation() => EvaluationReport.FromJson(File.ReadAllText(Path.Combine(ReportsDir, "evaluation.json")));

    /// <summary>Asserts two vector maps hold the same ids and bitwise-equal vectors.</summary>
    public static void AssertSameVectors(Dictionary<string, float[]?> expected, Dictionary<string, float[]?> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (id, v) in expected)
        {
            Assert.NotNull(v);
            Assert.True(actual[id] is { } a && a.AsSpan().SequenceEqual(v), $"vector of {id} differs or is missing");
        }
    }
}
