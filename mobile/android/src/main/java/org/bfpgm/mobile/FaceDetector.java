package org.bfpgm.mobile;

import android.content.Context;
import android.graphics.Bitmap;

import org.pytorch.IValue;
import org.pytorch.LiteModuleLoader;
import org.pytorch.Module;
import org.pytorch.Tensor;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * Face detection with an EResFD model exported by {@code reproduce export} (the {@code .ptl}
 * file). The model does the whole pipeline: it takes the RGB pixels of an image of any size,
 * subtracts the training mean itself, and returns the detections after NMS with boxes in pixels
 * of that image, so this class only unpacks pixels and repacks rows (see the manifest's
 * {@code input} and {@code output}).
 *
 * <p>Inference time grows with the pixel count: scale large camera frames down (for example to
 * 640 pixels on the long side) and scale the boxes back up.
 */
public final class FaceDetector implements AutoCloseable {

    /** One detection: the face probability and the box in pixels of the detected bitmap. */
    public static final class Face {
        public final float score;
        public final float left;
        public final float top;
        public final float right;
        public final float bottom;

        Face(float score, float left, float top, float right, float bottom) {
            this.score = score;
            this.left = left;
            this.top = top;
            this.right = right;
            this.bottom = bottom;
        }
    }

    /** Columns per output row: score, x1, y1, x2, y2. */
    private static final int COLUMNS = 5;

    private final Module module;

    /** Loads the lite-interpreter file at {@code path}. */
    public FaceDetector(String path) {
        module = LiteModuleLoader.load(path);
    }

    /**
     * Loads a model bundled in the app's assets. The lite loader needs a file, so the asset is
     * copied into the app's files folder first (through a temporary name, so an interrupted copy
     * is never loaded) and re-copied when {@code sha256}, the manifest's hash of the file, does
     * not match the copy; pass {@code null} to skip the check.
     */
    public static FaceDetector fromAsset(Context context, String asset, String sha256)
            throws IOException {
        File file = new File(context.getFilesDir(), asset);
        if (!file.isFile() || (sha256 != null && !sha256.equals(sha256Of(file)))) {
            File partial = new File(context.getFilesDir(), asset + ".part");
            try (InputStream in = context.getAssets().open(asset);
                    OutputStream out = new FileOutputStream(partial)) {
                byte[] buffer = new byte[64 * 1024];
                for (int n; (n = in.read(buffer)) > 0; ) {
                    out.write(buffer, 0, n);
                }
            }
            if (sha256 != null && !sha256.equals(sha256Of(partial))) {
                partial.delete();
                throw new IOException("asset " + asset + " does not have the manifest's sha256 "
                        + sha256 + "; bundle the file that reproduce export wrote with it");
            }
            if (!partial.renameTo(file)) {
                throw new IOException("cannot rename " + partial + " to " + file);
            }
        }
        return new FaceDetector(file.getAbsolutePath());
    }

    /**
     * Detects faces in {@code bitmap}, returning those scoring at least {@code minScore} (the
     * model returns everything above 0.05) by descending score.
     */
    public List<Face> detect(Bitmap bitmap, float minScore) {
        int width = bitmap.getWidth();
        int height = bitmap.getHeight();
        int[] argb = new int[width * height];
        bitmap.getPixels(argb, 0, width, 0, 0, width, height);
        byte[] rgb = new byte[width * height * 3];
        for (int i = 0; i < argb.length; i++) {
            rgb[3 * i] = (byte) (argb[i] >> 16);
            rgb[3 * i + 1] = (byte) (argb[i] >> 8);
            rgb[3 * i + 2] = (byte) argb[i];
        }
        Tensor image = Tensor.fromBlobUnsigned(rgb, new long[] {height, width, 3});
        float[] rows = module.forward(IValue.from(image)).toTensor().getDataAsFloatArray();
        List<Face> faces = new ArrayList<>();
        for (int r = 0; r + COLUMNS <= rows.length && rows[r] >= minScore; r += COLUMNS) {
            faces.add(new Face(rows[r], rows[r + 1], rows[r + 2], rows[r + 3], rows[r + 4]));
        }
        return faces;
    }

    /** Frees the native module. */
    @Override
    public void close() {
        module.destroy();
    }

    private static String sha256Of(File file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IOException("SHA-256 is not available", e);
        }
        try (InputStream in = new FileInputStream(file)) {
            byte[] buffer = new byte[64 * 1024];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }
}
