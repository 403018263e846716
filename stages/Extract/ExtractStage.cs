using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Extract;

/// <summary>
/// The Extract stage: every example in the index with no vector for this backbone's fingerprint is
/// decoded, embedded and appended to the cache. Examples are keyed by content id, so a renamed,
/// relabelled, re-split or moved image is never embedded twice.
/// </summary>
internal static class ExtractStage
{
    public static readonly string[] Sections = ["dataset", "backbone", "extract", "cache"];

    public static ExtractSummary Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var inputsHash = InputsHash(config, db);
        if (UpToDate(config, db, inputsHash) is { } previous)
        {
            // Shards that ran again over a whole cache found nothing to do: nothing to absorb.
            ShardSummary.Remove(config, [.. ShardSummary.ReadAll(config).Select(x => x.Path)]);
            return previous;
        }

        // The float model, or its int8 copy (built here, once, when backbone.precision is int8).
        var spec = QuantizedBackbone.Resolve(config, db, build: true, line => Printable.WriteLine("extract: " + line), ct);
        var shards = AbsorbShardSummaries(config, db, inputsHash, spec.Fingerprint, out var summaryFiles);
        var examples = ReadExamples(db, config.Dataset.Root);
        if (examples.Count == 0)
            throw new InputException($"the index {config.IndexPath} has no examples to extract. Run the Ingest stage first (make ingest), " +
                                     $"and check that dataset.root ({config.Dataset.Root}) holds class subfolders of images.");
        var alreadyQuarantined = ReadQuarantined(db);
        // The run's vectors that are checked before it is declared done: the first ids (in content-id order, a fair draw),
        // met as the cache is read and as they are embedded.
        var sampled = examples.Where(e => !alreadyQuarantined.Contains(e.ContentId)).Take(VectorHealth.SampleSize).Select(e => e.ContentId);
        var sample = new VectorHealth.Sample(sampled, config.Cache.Precision == VectorPrecision.Float16);
        var cache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint, loadVectors: false, repair: true, onVector: sample.Visitor);
        if (cache.Stats.Damaged.Count > 0) Printable.WriteLine(DamagedSegmentsLine(cache.Stats.Damaged));
        var todo = examples.Where(e => !alreadyQuarantined.Contains(e.ContentId) && !cache.Contains(e.ContentId)).ToList();
        var reused = examples.Count(e => cache.Contains(e.ContentId));

        var extracted = 0;
        long decoded = 0;
        var extractSeconds = 0.0;
        var dimension = spec.Dimension != 0 ? spec.Dimension : cache.Dimension;
        using var writer = todo.Count > 0 ? new CacheWriter(config.CacheDir, spec.Fingerprint, config.Cache.Precision) : null;
        if (writer is not null && ImageSharpVectorReuse.Copy(spec, config.CacheDir, db, todo, writer) is { Count: > 0 } copied)
        {
            todo = [.. todo.Where(w => !copied.Contains(w.ContentId))];
            reused += copied.Count;
        }
        if (writer is not null && todo.Count > 0)
        {
            using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
            var pipeline = ExtractPipeline.For(spec, lanes, config, IndexedDecodePaths.MostlyLibvips(spec, db, todo));
            var outcome = ExtractProgress.Run("extract", todo.Count,
                progress => pipeline.Run(todo, writer, (w, v) => sample.Offer(w.ContentId, v), progress, ct));
            RecordQuarantine(db, outcome.Quarantined);
            extracted = outcome.Extracted;
            decoded = outcome.Decoded;
            extractSeconds = outcome.Seconds;
            dimension = lanes.Dimension;
        }

        var quarantined = examples.Count(e => alreadyQuarantined.Contains(e.ContentId)) + (todo.Count - extracted);
        var health = CheckVectors(config, spec.DisplayName, sample);
        var summary = new ExtractSummary(false, extracted, reused, quarantined, decoded, clock.Elapsed.TotalSeconds,
            extractSeconds > 0 ? extracted / extractSeconds : 0, spec.Fingerprint, dimension, spec.DisplayName,
            // Recomputed: new quarantine rows are part of the inputs, and the next run must see itself up to date.
            InputsHash(config, db), shards, health);
        ExtractReport.Write(config, summary);
        // Their news is in the index and the report now.
        ShardSummary.Remove(config, summaryFiles);
        return summary;
    }

    /// <summary>The one line about cache segments that ended in a record failing its checksum (or cut short): the
    /// cache cut them there, and the images whose vectors were dropped are in this run's work again.</summary>
    private static string DamagedSegmentsLine(IReadOnlyList<(string Path, long ValidEnd)> damaged) =>
        $"extract: {damaged.Count} cache segment(s) failed a record's checksum or were cut short " +
        $"({string.Join(", ", damaged.Select(d => FormattableString.Invariant($"{Path.GetFileName(d.Path)} from byte {d.ValidEnd}")))}): " +
        "the records from there on were dropped, and their images are embedded again";

    /// <summary>
    /// Refuses (exit 3) a run whose vectors are degenerate (<see cref="VectorHealth"/>): with zero or
    /// random weights, or wrongly fed, a backbone still gives vectors, and a head trained on them
    /// answers at chance while every stage exits 0. The vectors stay in the cache (the refusal comes
    /// after they are committed) and no report is written, so the next run checks them again.
    /// </summary>
    private static VectorHealthFigures CheckVectors(PipelineConfig config, string backbone, VectorHealth.Sample sample)
    {
        var figures = VectorHealth.Measure(sample.Vectors);
        if (VectorHealth.Problem(figures) is { } problem)
            throw new InputException(
                $"the vectors of backbone {backbone} are degenerate: {problem} (over {figures.Vectors} images of this run); a head cannot learn from them. " +
                $"They stay in the cache ({config.CacheDir}). Run `make inspect CONFIG={config.SourcePath}` to see what the pipeline makes of the model: " +
                "check 'backbone.normalization', 'backbone.layout' and 'backbone.input_size' against what it was trained with, " +
                "or the model is untrained (zero or random weights); then run Extract again.");
        return figures;
    }

    /// <summary>
    /// The finishing run after shards (Extract --shard): records the images they quarantined (they
    /// cannot write the index) and adds up what they did, from the summaries made for the current
    /// inputs and backbone. Returns null when no shard reported. <paramref name="files"/> are all
    /// summary files, current or stale (an older index or backbone), for removal once the report is
    /// written: no shard runs now, as this run holds the workspace lock that shards share.
    /// </summary>
    private static ShardTotals? AbsorbShardSummaries(PipelineConfig config, IndexDb db, string inputsHash, string fingerprint, out List<string> files)
    {
        var all = ShardSummary.ReadAll(config);
        files = [.. all.Select(x => x.Path)];
        foreach (var damage in all.Select(x => x.Damage).OfType<DamagedArtifactException>())
            Printable.WriteLine(damage.RepairLine("extract", config.Workspace,
                "ignored; what its shard embedded is in the cache, and any image it could not embed is tried again"));
        var current = all.Select(x => x.Summary).OfType<ShardSummary>()
            .Where(s => s.InputsHash == inputsHash && s.Fingerprint == fingerprint).ToList();
        if (current.Count == 0) return null;
        RecordQuarantine(db,
            [.. current.SelectMany(s => s.Quarantined).Select(q => (new ImageWork(q.ContentId, "", q.RelPath), new ImageFailure(q.Kind, q.Reason)))]);
        var rates = current.Where(s => s.Extracted > 0).Select(s => s.ImagesPerSecond).ToList();
        return new ShardTotals(current.Count, string.Join(",", current.Select(s => s.Shard.Count).Distinct().Order()),
            current.Sum(s => s.Extracted), current.Sum(s => s.Quarantined.Count), current.Sum(s => s.EmbeddedByOthers),
            current.Sum(s => s.Decoded), current.Max(s => s.Seconds), rates.Count > 0 ? rates.Average() : 0);
    }

    /// <summary>One row per distinct content id, with a representative file to read it from; only
    /// the ids of <paramref name="range"/> when given (an index range scan).</summary>
    internal static List<ImageWork> ReadExamples(IndexDb db, string root, IdRange? range = null)
    {
        var list = new List<ImageWork>();
        var (low, high) = range is { } r ? r.HexBounds : ("", null);
        // Plain comparisons (no "IS NULL OR"), so that SQLite plans a scan of the primary key's range.
        using var cmd = db.Command("SELECT content_id, MIN(rel_path) FROM examples WHERE content_id >= $low" +
                                   (high is null ? "" : " AND content_id < $high") + " GROUP BY content_id ORDER BY content_id;");
        cmd.Parameters.AddWithValue("$low", low);
        if (high is not null) cmd.Parameters.AddWithValue("$high", high);
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            var rel = reader.GetString(1);
            list.Add(new ImageWork(reader.GetString(0), Path.Combine(root, rel.Replace('/', Path.DirectorySeparatorChar)), rel));
        }
        return list;
    }

    internal static HashSet<string> ReadQuarantined(IndexDb db)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        using var cmd = db.Command("SELECT content_id FROM quarantine;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) set.Add(r.GetString(0));
        return set;
    }

    private static void RecordQuarantine(IndexDb db, IReadOnlyList<(ImageWork Work, ImageFailure Failure)> items)
    {
        if (items.Count == 0) return;
        using var tx = db.Begin();
        using var cmd = db.Command(
            "INSERT OR REPLACE INTO quarantine(content_id, rel_path, reason, kind, stage, at) VALUES ($c, $p, $r, $k, 'extract', $t);", tx);
        var c = cmd.Parameters.Add("$c", Microsoft.Data.Sqlite.SqliteType.Text);
        var p = cmd.Parameters.Add("$p", Microsoft.Data.Sqlite.SqliteType.Text);
        var r = cmd.Parameters.Add("$r", Microsoft.Data.Sqlite.SqliteType.Text);
        var k = cmd.Parameters.Add("$k", Microsoft.Data.Sqlite.SqliteType.Text);
        cmd.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        foreach (var (work, failure) in items)
        {
            c.Value = work.ContentId;
            p.Value = work.RelPath;
            r.Value = failure.Reason;
            k.Value = failure.Kind.ToColumn();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>
    /// Hash of everything Extract's output depends on: its config sections, Ingest's index hash as
    /// committed in the index itself (or, in an index no Ingest committed to, the examples
    /// themselves), the quarantine list, and the model file's identity (path, size, mtime: cheap,
    /// unlike hashing its bytes).
    /// </summary>
    internal static string InputsHash(PipelineConfig config, IndexDb db)
    {
        var sb = new StringBuilder();
        sb.Append(StageHost.ConfigHash(config, Sections)).Append('\n');
        sb.Append("ingest=").Append(IngestMeta.Read(db)?.IndexHash ?? ExamplesHash(db)).Append('\n');
        sb.Append("quarantine=").Append(Convert.ToInt64(db.Scalar("SELECT COUNT(*) FROM quarantine;"), CultureInfo.InvariantCulture)).Append('\n');
        if (config.Backbone.Onnx is { } model)
        {
            var fi = new FileInfo(model);
            sb.Append(CultureInfo.InvariantCulture, $"model={model};{(fi.Exists ? fi.Length : -1)};{(fi.Exists ? fi.LastWriteTimeUtc.Ticks : 0)}");
        }
        else sb.Append("model=embedded"); // pinned by the package version; where the build copied it does not matter
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }

    private static string ExamplesHash(IndexDb db)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var cmd = db.Command("SELECT content_id, MIN(rel_path) FROM examples GROUP BY content_id ORDER BY content_id;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) h.AppendData(Encoding.UTF8.GetBytes(r.GetString(0) + "\t" + r.GetString(1) + "\n"));
        return Convert.ToHexStringLower(h.GetHashAndReset())[..16];
    }

    private static ExtractSummary? UpToDate(PipelineConfig config, IndexDb db, string inputsHash)
    {
        ExtractSummary? previous;
        try { previous = ExtractReport.TryRead(config); }
        catch (DamagedArtifactException e)
        {
            Printable.WriteLine(e.RepairLine("extract", config.Workspace, "checking the cache and writing it again"));
            return null;
        }
        if (previous is null || previous.InputsHash != inputsHash) return null;
        if (!CacheIsWhole(config, db, previous.Fingerprint)) return null;
        return previous with
        {
            UpToDate = true,
            Reused = previous.Extracted + previous.Reused,
            Extracted = 0,
            Decoded = 0,
            Seconds = 0,
            ImagesPerSecond = 0,
            Shards = null,
        };
    }

    /// <summary>
    /// The cache can be damaged, deleted or pruned behind the report's back: up to date also needs
    /// every example that is not quarantined to have a vector, and no segment to end in a bad
    /// record (its tail is cut off and re-extracted by a real run). Reading only checks the records'
    /// checksums, no vectors are kept: milliseconds for thousands of images.
    /// </summary>
    private static bool CacheIsWhole(PipelineConfig config, IndexDb db, string fingerprint)
    {
        var cache = BottleneckCache.Open(config.CacheDir, fingerprint, loadVectors: false);
        if (cache.Stats.TornSegments > 0) return false;
        var quarantined = ReadQuarantined(db);
        using var cmd = db.Command("SELECT DISTINCT content_id FROM examples;");
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var id = r.GetString(0);
            if (!quarantined.Contains(id) && !cache.Contains(id)) return false;
        }
        return true;
    }

}
