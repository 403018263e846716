using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;

namespace BottleneckPipeline.Embedding;

/// <summary>What a pipeline run did.</summary>
public sealed record ExtractOutcome(int Extracted, IReadOnlyList<(ImageWork Work, ImageFailure Failure)> Quarantined, long Decoded, double Seconds);

/// <summary>
/// Decode and inference overlap: a producer hands out slots of a small pool of batch buffers,
/// decode workers write each image's normalized tensor straight into its slot, and each inference
/// lane (one session; the first on the calling thread) runs full batches through the backbone.
/// Vectors are appended to the cache and committed (fsync) once per batch, one lane at a time.
/// Memory is the pool (a few batches per lane), whatever the dataset size.
/// </summary>
public sealed class ExtractPipeline(BackboneSpec spec, IReadOnlyList<BackboneSession> sessions, ImagePreparer preparer, int batchSize, int decodeWorkers)
{
    private sealed class Batch(int capacity, int valuesPerImage)
    {
        public readonly float[] Input = new float[capacity * valuesPerImage];
        public readonly ImageWork[] Items = new ImageWork[capacity];
        public readonly ImageFailure?[] Failure = new ImageFailure?[capacity];
        public int Count;
        public int Pending;
    }

    /// <summary>Decode workers when the config says 0: half the cores. Inference needs far more CPU
    /// than decoding (ResNet-18 ~45 core-ms against ~3 core-ms per flower photo); on 2 cores one
    /// worker and two tie for ResNet-18, and one is better for Inception, where a second only takes
    /// CPU from ORT (bench: extract).</summary>
    public static int DefaultDecodeWorkers => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Decode workers when the config says 0 and most images are large photos for libvips:
    /// one per core. A 12 MP JPEG costs libvips about half of ResNet-18's inference, so a single
    /// worker cannot keep two lanes fed (bench: decode).</summary>
    public static int LargePhotoDecodeWorkers => Math.Max(1, Environment.ProcessorCount);

    /// <summary>The pipeline as pipeline.yaml's extract and dataset sections configure it, over the given lanes.</summary>
    /// <param name="mostlyLargePhotos">Most images to embed go to libvips (see <see cref="LargePhotoDecodeWorkers"/>).</param>
    public static ExtractPipeline For(BackboneSpec spec, BackboneLanes lanes, Config.PipelineConfig config, bool mostlyLargePhotos = false) => new(
        spec, lanes.Sessions, new ImagePreparer(spec, config.Dataset.MaxPixels), config.Extract.BatchSize,
        config.Extract.DecodeWorkers > 0 ? config.Extract.DecodeWorkers : mostlyLargePhotos ? LargePhotoDecodeWorkers : DefaultDecodeWorkers);

    /// <param name="onVector">Called on the calling thread for each vector, before the batch is committed.</param>
    /// <param name="onProgress">Called after each batch with the number of images finished.</param>
    public ExtractOutcome Run(IReadOnlyList<ImageWork> items, CacheWriter writer, Action<ImageWork, ReadOnlySpan<float>>? onVector,
                              Action<int>? onProgress, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var quarantined = new ConcurrentQueue<(ImageWork, ImageFailure)>();
        if (items.Count == 0) return new ExtractOutcome(0, [], 0, 0);

        var per = Math.Max(1, Math.Min(batchSize, sessions.Min(x => x.MaxBatch)));
        var workers = Math.Max(1, decodeWorkers);
        var poolSize = workers + 2 * sessions.Count;
        var free = Channel.CreateBounded<Batch>(poolSize);
        for (var i = 0; i < poolSize; i++) free.Writer.TryWrite(new Batch(per, spec.ValuesPerImage));
        var work = Channel.CreateBounded<(Batch, int)>(new BoundedChannelOptions(per * 2) { SingleWriter = true });
        var ready = Channel.CreateUnbounded<Batch>(new UnboundedChannelOptions { SingleReader = sessions.Count == 1 });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = cts.Token;
        // The first real error stops every task and is what the caller sees. The cancellations it
        // causes elsewhere (a lane still busy with inference meets a cancelled token when it next
        // waits) are only its echo and must not turn it into "interrupted".
        Exception? firstError = null;
        void Stop(Exception e)
        {
            if (e is OperationCanceledException) return;
            if (Interlocked.CompareExchange(ref firstError, e, null) is not null) return;
            cts.Cancel();
            OnStopped?.Invoke();
        }

        // Every task ends by itself and reports its error through Stop, so waiting on them never throws.
        var producer = Task.Run(async () =>
        {
            try
            {
                for (var start = 0; start < items.Count; start += per)
                {
                    var b = await free.Reader.ReadAsync(token);
                    b.Count = Math.Min(per, items.Count - start);
                    b.Pending = b.Count;
                    for (var s = 0; s < b.Count; s++)
                    {
                        b.Items[s] = items[start + s];
                        b.Failure[s] = null;
                    }
                    for (var s = 0; s < b.Count; s++) await work.Writer.WriteAsync((b, s), token);
                }
            }
            catch (Exception e) { Stop(e); }
            finally { work.Writer.TryComplete(); }
        }, CancellationToken.None);

        var decoders = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            try
            {
                await foreach (var (b, slot) in work.Reader.ReadAllAsync(token))
                {
                    b.Failure[slot] = preparer.Prepare(b.Items[slot], b.Input.AsSpan(slot * spec.ValuesPerImage, spec.ValuesPerImage));
                    if (Interlocked.Decrement(ref b.Pending) == 0) ready.Writer.TryWrite(b);
                }
            }
            catch (Exception e) { Stop(e); }
        }, CancellationToken.None)).ToArray();
        var decodersDone = Task.WhenAll(decoders).ContinueWith(_ => ready.Writer.TryComplete(), TaskScheduler.Default);

        var extracted = 0;
        var finished = 0;
        var commit = new Lock(); // the cache writer, the counters and the progress callback are one lane's at a time
        void Lane(BackboneSession session)
        {
            try
            {
                var output = Array.Empty<float>();
                while (ready.Reader.WaitToReadAsync(token).AsTask().GetAwaiter().GetResult())
                {
                    while (!token.IsCancellationRequested && ready.Reader.TryRead(out var b))
                    {
                        var ok = Pack(b, quarantined);
                        if (ok > 0) session.Run(b.Input, ok, ref output);
                        lock (commit)
                        {
                            if (ok > 0) Commit(b, ok, session.Dimension, output, writer, onVector);
                            extracted += ok;
                            finished += b.Count;
                            onProgress?.Invoke(finished);
                        }
                        free.Writer.TryWrite(b);
                    }
                }
            }
            catch (Exception e) { Stop(e); }
        }

        var others = sessions.Skip(1)
            .Select(x => Task.Factory.StartNew(() => Lane(x), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
        Lane(sessions[0]);
        // Let every task end before the buffers go.
        Task.WaitAll([producer, decodersDone, .. decoders, .. others]);
        if (firstError is not null) ExceptionDispatchInfo.Throw(firstError);
        if (finished < items.Count)
        {
            ct.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"the extract pipeline stopped after {finished} of {items.Count} images without an error");
        }
        return new ExtractOutcome(extracted, [.. quarantined], preparer.Decoded, started.Elapsed.TotalSeconds);
    }

    /// <summary>Called once when an error stops the run, after every task was told to stop (tests use
    /// it to hold a lane busy until then).</summary>
    internal Action? OnStopped { get; set; }

    /// <summary>Moves the batch's good slots to the front (a failed image costs no inference) and
    /// quarantines the others; returns how many are good.</summary>
    private int Pack(Batch b, ConcurrentQueue<(ImageWork, ImageFailure)> quarantined)
    {
        var ok = 0;
        for (var s = 0; s < b.Count; s++)
        {
            if (b.Failure[s] is { } failure) { quarantined.Enqueue((b.Items[s], failure)); continue; }
            if (ok != s)
            {
                b.Input.AsSpan(s * spec.ValuesPerImage, spec.ValuesPerImage).CopyTo(b.Input.AsSpan(ok * spec.ValuesPerImage));
                b.Items[ok] = b.Items[s];
            }
            ok++;
        }
        return ok;
    }

    private static void Commit(Batch b, int ok, int dim, float[] output, CacheWriter writer, Action<ImageWork, ReadOnlySpan<float>>? onVector)
    {
        for (var s = 0; s < ok; s++)
        {
            var v = output.AsSpan(s * dim, dim);
            writer.Append(b.Items[s].ContentId, v);
            onVector?.Invoke(b.Items[s], v);
        }
        writer.Commit();
    }
}
