using System.Diagnostics;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Extract;

/// <summary>
/// One shard of Extract (<c>Extract --shard I/N</c>): embeds the shard's images that the shared
/// cache lacks, into a segment of its own, beside any number of other shards on any machine that
/// shares cache.dir. It reads the index without writing it, and leaves a <see cref="ShardSummary"/>
/// instead of extract.json; a plain Extract run afterwards checks the cache and writes the report.
/// <para>
/// Resuming is the cache's doing: a killed or requeued shard finds its committed batches there and
/// embeds the rest. Overlap is the locks': the work goes in pieces of consecutive ids, each embedded
/// under a <see cref="HashRangeLock"/> on its range after re-reading what the cache gained, so a
/// piece another writer holds is left for later and then finds its images done.
/// </para>
/// </summary>
internal static class ShardRun
{
    /// <summary>Images per locked piece: large enough that decode and inference stay overlapped
    /// within a piece, small enough that overlapping shards share out the work finely.</summary>
    public const int PieceSize = 256;

    private static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(250);

    /// <param name="log">Receives a line when the shard waits for another writer (Extract prints it).</param>
    public static ShardSummary Run(PipelineConfig config, ExtractShard shard, CancellationToken ct = default, Action<string>? log = null)
    {
        var clock = Stopwatch.StartNew();
        string inputsHash;
        List<ImageWork> examples;
        HashSet<string> quarantined;
        bool indexed;
        BackboneSpec spec;
        using (var db = IndexDb.OpenReadOnly(config.IndexPath))
        {
            indexed = Convert.ToInt64(db.Scalar("SELECT EXISTS (SELECT 1 FROM examples);"), System.Globalization.CultureInfo.InvariantCulture) == 1;
            inputsHash = ExtractStage.InputsHash(config, db);
            // Only this shard's rows: the index is keyed by content id, so a range is a range scan.
            examples = TransientIo.Run(() => ExtractStage.ReadExamples(db, config.Dataset.Root, shard.Range));
            quarantined = TransientIo.Run(() => ExtractStage.ReadQuarantined(db));
            // The int8 copy where configured, as the finishing Extract uses: the first shard to get
            // here builds it (atomically; any other builds the same bytes), later ones reuse it.
            spec = indexed ? Quantization.QuantizedBackbone.Resolve(config, db, build: true, line => log?.Invoke(line), ct) : null!;
        }
        // A shard's range may hold no image (many shards, few images): only an empty index is an error.
        if (!indexed)
            throw new InputException($"the index {config.IndexPath} has no examples to extract. Run the Ingest stage first (make ingest), " +
                                     $"and check that dataset.root ({config.Dataset.Root}) holds class subfolders of images.");

        // Only segments that may hold this shard's ids are read: its own earlier runs', overlapping
        // shards', whole Extracts'. Not the other shards': each shard reads its share, not the cache.
        var cache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint, loadVectors: false, repair: true, within: shard.Range);
        // In id order, which is position order: consecutive items make a contiguous range.
        var mine = examples.Where(e => !quarantined.Contains(e.ContentId)).ToList();
        var todo = mine.Where(e => !cache.Contains(e.ContentId)).ToList();

        var work = new ShardWork();
        var dimension = spec.Dimension != 0 ? spec.Dimension : cache.Dimension;
        if (todo.Count > 0)
        {
            using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
            var pipeline = ExtractPipeline.For(spec, lanes, config);
            using var writer = new CacheWriter(config.CacheDir, spec.Fingerprint, config.Cache.Precision, shard.Range);
            using var locks = HashRangeLock.Open(config.CacheDir, spec.Fingerprint);
            ExtractProgress.Run($"extract shard {shard}", todo.Count, progress =>
            {
                var deferred = new List<ImageWork[]>();
                foreach (var piece in todo.Chunk(PieceSize))
                    if (!TryEmbed(piece, locks, cache, pipeline, writer, work, progress, ct)) deferred.Add(piece);
                // Pieces another writer held: wait for it, then embed what it left.
                if (deferred.Count > 0)
                    log?.Invoke($"extract shard {shard}: {deferred.Sum(p => p.Length)} image(s) are in ranges another Extract holds (an overlapping shard?); " +
                                "waiting for it, then embedding what it leaves");
                foreach (var piece in deferred)
                {
                    work.WaitedPieces++;
                    while (!TryEmbed(piece, locks, cache, pipeline, writer, work, progress, ct))
                        ct.WaitHandle.WaitOne(LockPoll);
                    ct.ThrowIfCancellationRequested();
                }
                return 0;
            });
            dimension = lanes.Dimension;
        }

        var summary = new ShardSummary(shard, inputsHash, spec.Fingerprint, dimension, spec.DisplayName,
            mine.Count, work.Extracted, mine.Count - todo.Count, work.EmbeddedByOthers, work.WaitedPieces,
            [.. work.Quarantined.Select(q => new ShardQuarantine(q.Work.ContentId, q.Work.RelPath, q.Failure.Kind, q.Failure.Reason))],
            work.Decoded, clock.Elapsed.TotalSeconds, work.Seconds > 0 ? work.Extracted / work.Seconds : 0, Environment.MachineName);
        summary.Write(config);
        return summary;
    }

    private sealed class ShardWork
    {
        public int Extracted, EmbeddedByOthers, WaitedPieces, Finished;
        public long Decoded;
        public double Seconds;
        public readonly List<(ImageWork Work, ImageFailure Failure)> Quarantined = [];
    }

    /// <summary>Embeds one piece under the lock on its range; false when another writer holds part of it.</summary>
    private static bool TryEmbed(ImageWork[] piece, HashRangeLock locks, BottleneckCache cache, ExtractPipeline pipeline,
                                 CacheWriter writer, ShardWork work, Action<int> progress, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var (first, last) = (IdRange.Position(piece[0].ContentId), IdRange.Position(piece[^1].ContentId));
        if (!locks.TryLock(first, last)) return false;
        try
        {
            cache.Refresh();
            var missing = piece.Where(e => !cache.Contains(e.ContentId)).ToList();
            work.EmbeddedByOthers += piece.Length - missing.Count;
            var before = work.Finished + piece.Length - missing.Count;
            var outcome = pipeline.Run(missing, writer, null, done => progress(before + done), ct);
            work.Finished += piece.Length;
            if (missing.Count == 0) progress(work.Finished); // else the pipeline's last report said so

            work.Extracted += outcome.Extracted;
            work.Decoded += outcome.Decoded;
            work.Seconds += outcome.Seconds;
            work.Quarantined.AddRange(outcome.Quarantined);
            return true;
        }
        finally
        {
            locks.Unlock(first, last);
        }
    }
}
