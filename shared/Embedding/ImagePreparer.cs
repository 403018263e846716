using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Embedding;

/// <summary>One image to embed: where its bytes are and which content they must have.</summary>
/// <param name="ContentId">Lowercase hex SHA-256 the bytes must still hash to.</param>
/// <param name="Path">Absolute file path.</param>
/// <param name="RelPath">Path shown to the user and stored in quarantine.</param>
public sealed record ImageWork(string ContentId, string Path, string RelPath);

/// <summary>
/// Reads, checks, decodes and normalizes one image into its slot of the input batch. Returns null
/// on success or the reason the image is quarantined. Only transient IO errors are retried (a shared
/// filesystem's, see <see cref="TransientIo"/>); an IO error that outlives the retries stops the run
/// (the disk, not the image, is the problem).
/// </summary>
public sealed class ImagePreparer(BackboneSpec spec, long maxPixels)
{
    public const string ChangedReason = "changed since ingest: re-run Ingest";
    public const string MissingReason = "file deleted since ingest: re-run Ingest";

    private long _decoded;
    /// <summary>Images decoded so far (the warm-rerun check wants this to stay 0).</summary>
    public long Decoded => Interlocked.Read(ref _decoded);

    public string? Prepare(ImageWork work, Span<float> dest)
    {
        byte[] bytes;
        try
        {
            bytes = TransientIo.Run(() => File.ReadAllBytes(work.Path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return MissingReason;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {work.Path}: {e.Message}. Check the disk or file permissions and run again; finished work is kept.", e);
        }
        if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), work.ContentId, StringComparison.Ordinal))
            return ChangedReason;
        try
        {
            Interlocked.Increment(ref _decoded);
            using var image = ImageLoader.Decode(bytes, maxPixels);
            TensorWriter.Resize(image, spec.InputSize, spec.Resize);
            TensorWriter.Write(image, spec.Preprocessing, spec.Layout, dest);
            return null;
        }
        catch (ImageRejectedException e)
        {
            return e.Message;
        }
    }
}
