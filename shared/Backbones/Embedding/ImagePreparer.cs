using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using Polly;
using Polly.Retry;

namespace BottleneckPipeline.Embedding;

/// <summary>One image to embed: where its bytes are and which content they must have.</summary>
/// <param name="ContentId">Lowercase hex SHA-256 the bytes must still hash to.</param>
/// <param name="Path">Absolute file path.</param>
/// <param name="RelPath">Path shown to the user and stored in quarantine.</param>
public sealed record ImageWork(string ContentId, string Path, string RelPath);

/// <summary>Why an image cannot be embedded: its quarantine kind, and the reason shown to a person.</summary>
public sealed record ImageFailure(QuarantineKind Kind, string Reason)
{
    public static readonly ImageFailure Changed = new(QuarantineKind.Changed, ImagePreparer.ChangedReason);
    public static readonly ImageFailure Missing = new(QuarantineKind.Missing, ImagePreparer.MissingReason);
}

/// <summary>
/// Reads, checks, decodes and normalizes one image into its slot of the input batch. Returns null
/// on success or why the image is quarantined. Only transient IO errors are retried (a lock held
/// for a moment, and a shared filesystem's EIO, ESTALE or timeout); an IO error that outlives the
/// retries stops the run (the disk, not the image, is the problem).
/// </summary>
public sealed class ImagePreparer(BackboneSpec spec, long maxPixels)
{
    public const string ChangedReason = "changed since ingest: re-run Ingest";
    public const string MissingReason = "file deleted since ingest: re-run Ingest";

    private static readonly ResiliencePipeline ReadRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<IOException>(e => e is not (FileNotFoundException or DirectoryNotFoundException)),
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(100),
            BackoffType = DelayBackoffType.Exponential,
        })
        .Build();

    private long _decoded;
    /// <summary>Images decoded so far (the warm-rerun check wants this to stay 0).</summary>
    public long Decoded => Interlocked.Read(ref _decoded);

    /// <summary>How a file's bytes are read; tests replace it to fail a read at a chosen moment.</summary>
    internal Func<string, byte[]> ReadFile { get; init; } = File.ReadAllBytes;

    public ImageFailure? Prepare(ImageWork work, Span<float> dest)
    {
        byte[] bytes;
        try
        {
            bytes = ReadRetry.Execute(static state => state.ReadFile(state.Path), (ReadFile, work.Path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ImageFailure.Missing;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {work.Path}: {e.Message}. Check the disk or file permissions and run again; finished work is kept.", e);
        }
        if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), work.ContentId, StringComparison.Ordinal))
            return ImageFailure.Changed;
        try
        {
            Interlocked.Increment(ref _decoded);
            using var image = InputDecoder.Decode(bytes, maxPixels, spec.InputSize, spec.Resize, spec.Decode);
            TensorWriter.Write(image, spec.Preprocessing, spec.Layout, dest);
            return null;
        }
        catch (ImageRejectedException e)
        {
            return new ImageFailure(QuarantineKind.Decode, e.Message);
        }
    }
}
