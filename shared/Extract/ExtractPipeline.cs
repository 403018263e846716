using System.Collections.Concurrent;
using System.Threading.Channels;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;

namespace BottleneckPipeline.Extract;

/// <summary>What a pipeline run did.</summary>
public sealed record ExtractOutcome(int Extracted, IReadOnlyList<(ImageWork Work, string Reason)> Quarantined, long Decoded, double Seconds);

/// <summary>
/// Decode and inference overlap: a producer hands out slots of a small pool of batch buffers,
/// decode workers write each image's normalized tensor straight into its slot, and the calling
/// thread runs each full batch through the backbone, appends the vectors to the cache and commits
/// (fsync) once per batch. Memory is the pool (a few batches), whatever the dataset size.
/// </summary>
public sealed class ExtractPipeline(BackboneSpec spec, BackboneSession session, ImagePreparer preparer, int batchSize, int decodeWorkers)
{
    private sealed class Batch(int capacity, int valuesPerImage)
    {
        public readonly float[] Input = new float[capacity * valuesPerImage];
        public readonly ImageWork[] Items = new ImageWork[capacity];
        public readonly string?[] Failure = new string?[capacity];
        public int Count;
        public int Pending;
    }

    /// <summary>Decode workers when the config says 0: half the cores. Inference needs several times the
    /// CPU of decoding (ResNet-18 ~26 ms vs ~10 ms per image on 2 cores); on 2 cores one worker and two
    /// tie for ResNet-18, and one is better for Inception, where a second only takes CPU from ORT.</summary>
    public static int DefaultDecodeWorkers => Math.Max(1, Environment.ProcessorCount / 2);

    /// <param name="onVector">Called on the calling thread for each vector, before the batch is committed.</param>
    /// <param name="onProgress">Called after each batch with the number of images finished.</param>
    public ExtractOutcome Run(IReadOnlyList<ImageWork> items, CacheWriter writer, Action<ImageWork, ReadOnlySpan<float>>? onVector,
                              Action<int>? onProgress, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var quarantined = new ConcurrentQueue<(ImageWork, string)>();
        if (items.Count == 0) return new ExtractOutcome(0, [], 0, 0);

        var per = Math.Max(1, Math.Min(batchSize, session.MaxBatch));
        var workers = Math.Max(1, decodeWorkers);
        var poolSize = workers + 2;
        var free = Channel.CreateBounded<Batch>(poolSize);
        for (var i = 0; i < poolSize; i++) free.Writer.TryWrite(new Batch(per, spec.ValuesPerImage));
        var work = Channel.CreateBounded<(Batch, int)>(new BoundedChannelOptions(per * 2) { SingleWriter = true });
        var ready = Channel.CreateUnbounded<Batch>(new UnboundedChannelOptions { SingleReader = true });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = cts.Token;

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
                work.Writer.Complete();
            }
            catch (Exception e)
            {
                work.Writer.TryComplete(e);
                throw;
            }
        }, token);

        var decoders = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            await foreach (var (b, slot) in work.Reader.ReadAllAsync(token))
            {
                b.Failure[slot] = preparer.Prepare(b.Items[slot], b.Input.AsSpan(slot * spec.ValuesPerImage, spec.ValuesPerImage));
                if (Interlocked.Decrement(ref b.Pending) == 0) ready.Writer.TryWrite(b);
            }
        }, token)).ToArray();

        var decodersDone = Task.WhenAll(decoders).ContinueWith(t =>
        {
            if (t.IsFaulted) { ready.Writer.TryComplete(t.Exception!.GetBaseException()); cts.Cancel(); }
            else ready.Writer.TryComplete(t.IsCanceled ? new OperationCanceledException(token) : null);
        }, TaskScheduler.Default);

        var extracted = 0;
        var finished = 0;
        var output = Array.Empty<float>();
        try
        {
            while (ready.Reader.WaitToReadAsync(token).AsTask().GetAwaiter().GetResult())
            {
                while (ready.Reader.TryRead(out var b))
                {
                    Infer(b, ref output, writer, onVector, quarantined, ref extracted);
                    finished += b.Count;
                    free.Writer.TryWrite(b);
                    onProgress?.Invoke(finished);
                }
            }
        }
        catch
        {
            cts.Cancel();
            throw;
        }
        finally
        {
            // Let every task end before the buffers go; their own errors surface through 'ready'.
            try { Task.WaitAll([producer, decodersDone, .. decoders]); } catch (AggregateException) { }
        }
        return new ExtractOutcome(extracted, [.. quarantined], preparer.Decoded, started.Elapsed.TotalSeconds);
    }

    private void Infer(Batch b, ref float[] output, CacheWriter writer, Action<ImageWork, ReadOnlySpan<float>>? onVector,
                       ConcurrentQueue<(ImageWork, string)> quarantined, ref int extracted)
    {
        var ok = 0;
        for (var s = 0; s < b.Count; s++)
        {
            if (b.Failure[s] is { } reason) { quarantined.Enqueue((b.Items[s], reason)); continue; }
            // Pack good slots to the front so a failed image costs no inference.
            if (ok != s)
            {
                b.Input.AsSpan(s * spec.ValuesPerImage, spec.ValuesPerImage).CopyTo(b.Input.AsSpan(ok * spec.ValuesPerImage));
                b.Items[ok] = b.Items[s];
            }
            ok++;
        }
        if (ok == 0) return;
        session.Run(b.Input, ok, ref output);
        var dim = session.Dimension;
        for (var s = 0; s < ok; s++)
        {
            var v = output.AsSpan(s * dim, dim);
            writer.Append(b.Items[s].ContentId, v);
            onVector?.Invoke(b.Items[s], v);
        }
        writer.Commit();
        extracted += ok;
    }
}
